// The data-plane benchmarks pace real TCP streams and run guest threads, the others start an embedded cluster; on a
// 2-core machine parallel test classes would only slow each other down and make timings less predictable.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
