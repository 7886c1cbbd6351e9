// Migrations pace real TCP streams and run guest threads; on a 2-core machine parallel test classes would
// only slow each other down and make runs less predictable.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
