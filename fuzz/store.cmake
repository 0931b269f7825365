# Store fuzz target: the unit decoder (bytes read back from data.mdb), against a real store
# with a trained dictionary created at start-up.
agenttrail_add_fuzzer(fuzz_store_unit ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_store_unit.c tracestore)
# It decodes units through store_internal.h, internal to libtracestore (and <lmdb.h>).
target_include_directories(fuzz_store_unit PRIVATE ${CMAKE_SOURCE_DIR}/store)
target_link_libraries(fuzz_store_unit PRIVATE PkgConfig::LMDB)
