# The OrleansMigrate dirtying guest: a 512-byte boot sector (GNU as, AT&T syntax).
#
# It enters 32-bit protected mode and then, forever, writes the number of the pass in progress into the
# first dword of each of PAGES consecutive 4 KiB pages starting at BASE, one page after another with a
# busy loop of DELAY iterations between pages (that sets the dirty rate). After every page it stores
# its position (pages written since boot) at 0x604, in one aligned dword store. So a snapshot of a paused
# guest must show, with f = position / PAGES and r = position % PAGES: pages [0, r) hold f + 1, pages
# [r, PAGES) hold f (page r may already hold f + 1: the vCPU can stop between the two stores). A migration
# that loses a dirty page, or delivers pages from different moments, breaks that pattern.
#
# Header (read by OrleansMigrate.Hypervisor.Qemu.DirtyGuest):
#   0x600 passes completed   0x604 position   0x608 magic "GIMO" (0x4f4d4947)   0x60c PAGES   0x610 BASE
# Build: guest/build.sh OUT [PAGES] [DELAY]
    .code16
    .section .text
    .globl _start
_start:
    cli
    xorw %ax, %ax
    movw %ax, %ds
    movw %ax, %ss
    movw $0x7c00, %sp
    inb $0x92, %al          # fast A20
    orb $2, %al
    andb $0xfe, %al
    outb %al, $0x92
    lgdtl gdt_desc
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmpl $0x08, $pm32

    .code32
pm32:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movl $0x7c00, %esp
    movl $0x4f4d4947, 0x608     # magic 'OMIG'
    movl $PAGES, 0x60c
    movl $BASE, 0x610
    xorl %ebx, %ebx             # pass being written
    xorl %ebp, %ebp             # pages written in completed passes
pass_loop:
    incl %ebx
    movl $BASE, %edi
    xorl %esi, %esi
page_loop:
    movl %ebx, (%edi)
    incl %esi
    movl %ebp, %eax
    addl %esi, %eax
    movl %eax, 0x604            # position: pages written since boot
    addl $4096, %edi
    movl $DELAY, %ecx
1:  decl %ecx
    jnz 1b
    cmpl $PAGES, %esi
    jb page_loop
    movl %ebx, 0x600            # passes completed
    addl $PAGES, %ebp
    jmp pass_loop

    .p2align 3
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff
    .quad 0x00cf92000000ffff
gdt_desc:
    .word gdt_desc - gdt - 1
    .long gdt

    .org 510
    .byte 0x55, 0xaa
