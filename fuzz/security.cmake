# Security fuzz targets: the secret masker (libtraceproto) and the collector's allowlist
# parser (compiled in directly, as the collector is a program, not a library).
agenttrail_add_fuzzer(fuzz_mask ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_mask.c traceproto_internal
                      PkgConfig::JANSSON)
agenttrail_add_fuzzer(fuzz_allowlist ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_allowlist.c traceproto PkgConfig::ZMQ
                      Threads::Threads)
target_sources(fuzz_allowlist PRIVATE ${CMAKE_SOURCE_DIR}/collector/auth.c)
target_include_directories(fuzz_allowlist PRIVATE ${CMAKE_SOURCE_DIR}/collector)
