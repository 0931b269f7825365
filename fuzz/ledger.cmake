# Ledger fuzz targets: the checkpoint/signed-note parser, the compliance bundle reader, the
# witness file reader and the keyring of verify --keyring.
# The modules under test are compiled in directly.
agenttrail_add_fuzzer(fuzz_checkpoint_parse ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_checkpoint_parse.c tracecommon
                      PkgConfig::CRYPTO)
target_sources(fuzz_checkpoint_parse PRIVATE ${CMAKE_SOURCE_DIR}/store/checkpoint.c)
target_include_directories(fuzz_checkpoint_parse PRIVATE ${CMAKE_SOURCE_DIR}/store/include)

pkg_check_modules(LEDGER_ARCHIVE REQUIRED IMPORTED_TARGET libarchive)
agenttrail_add_fuzzer(fuzz_bundle_read ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_bundle_read.c
                      tracestore traceproto PkgConfig::LEDGER_ARCHIVE PkgConfig::JANSSON)
target_sources(fuzz_bundle_read PRIVATE ${CMAKE_SOURCE_DIR}/query/bundle.c
                                        ${CMAKE_SOURCE_DIR}/query/bundle_verify.c)
# It builds proofs with merkle.h, an internal header of libtracestore: store/ added here.
target_include_directories(fuzz_bundle_read PRIVATE ${CMAKE_SOURCE_DIR}/query
                                                    ${CMAKE_SOURCE_DIR}/store)

agenttrail_add_fuzzer(fuzz_witness_read ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_witness_read.c tracecommon
                      PkgConfig::CRYPTO)
target_sources(fuzz_witness_read PRIVATE ${CMAKE_SOURCE_DIR}/store/witness.c
                                         ${CMAKE_SOURCE_DIR}/store/checkpoint.c)
target_include_directories(fuzz_witness_read PRIVATE ${CMAKE_SOURCE_DIR}/store/include)

agenttrail_add_fuzzer(fuzz_keyring ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_keyring.c tracecommon
                      PkgConfig::CRYPTO)
target_sources(fuzz_keyring PRIVATE ${CMAKE_SOURCE_DIR}/query/keyring.c
                                    ${CMAKE_SOURCE_DIR}/store/checkpoint.c)
target_include_directories(fuzz_keyring PRIVATE ${CMAKE_SOURCE_DIR}/query
                                                ${CMAKE_SOURCE_DIR}/store/include)
