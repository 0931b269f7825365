# trace-query fuzz target: tree order, stats, descriptions and tables over events decoded from
# arbitrary bytes, and the --since/--until parser. The query modules are compiled in directly.
agenttrail_add_fuzzer(fuzz_query_render ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_query_render.c
                      tracestore traceproto_internal)
target_sources(fuzz_query_render PRIVATE ${CMAKE_SOURCE_DIR}/query/tree.c
               ${CMAKE_SOURCE_DIR}/query/stats_calc.c ${CMAKE_SOURCE_DIR}/query/stats_fields.c
               ${CMAKE_SOURCE_DIR}/query/describe.c
               ${CMAKE_SOURCE_DIR}/query/table.c ${CMAKE_SOURCE_DIR}/query/args.c
               ${CMAKE_SOURCE_DIR}/query/ids.c ${CMAKE_SOURCE_DIR}/query/reader.c)
target_include_directories(fuzz_query_render PRIVATE ${CMAKE_SOURCE_DIR}/query)
