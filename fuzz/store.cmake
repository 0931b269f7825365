# Store fuzz target: the unit decoder (bytes read back from data.mdb), against a real store
# with a trained dictionary created at start-up.
agenttrail_add_fuzzer(fuzz_store_unit ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_store_unit.c tracestore)
