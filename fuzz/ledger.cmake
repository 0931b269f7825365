# Ledger fuzz targets: the checkpoint/signed-note parser and the compliance bundle reader.
# The modules under test are compiled in directly.
agenttrail_add_fuzzer(fuzz_checkpoint_parse ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_checkpoint_parse.c
                      PkgConfig::CRYPTO)
target_sources(fuzz_checkpoint_parse PRIVATE ${CMAKE_SOURCE_DIR}/store/checkpoint.c)
target_include_directories(fuzz_checkpoint_parse PRIVATE ${CMAKE_SOURCE_DIR}/store)
