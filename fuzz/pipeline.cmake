# Pipeline fuzz target: the shim's spool reader (bytes a crash or a disk may have mangled)
# and the ack decoder the shim runs on network bytes.
agenttrail_add_fuzzer(fuzz_spool_segment ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_spool_segment.c traceshim_internal)
