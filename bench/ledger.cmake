# bench-ledger: the Merkle log's ingest cost, proofs/s, verify --store against raw SHA-256,
# export against find (see bench/bench_ledger.c).
if(TARGET trace-query)
  add_executable(bench-ledger ${CMAKE_CURRENT_SOURCE_DIR}/bench_ledger.c)
  target_link_libraries(bench-ledger PRIVATE benchcommon tracestore traceproto PkgConfig::CRYPTO
                        PkgConfig::LMDB)
  # It measures the ledger's internals (ledger.h, merkle.h, store_internal.h), which
  # libtracestore keeps PRIVATE.
  target_include_directories(bench-ledger PRIVATE ${CMAKE_SOURCE_DIR}/store)
  target_compile_definitions(bench-ledger PRIVATE AGENTTRAIL_SHARED_DIR="${AGENTTRAIL_SHARED}"
                             AGENTTRAIL_BIN_DIR="${CMAKE_BINARY_DIR}/bin")
  add_dependencies(bench-ledger trace-query)
endif()
