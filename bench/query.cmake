# bench-query: find, show, find --incident and stats as trace-query answers them, against the
# SQLite baseline table of bench-store, same events, same run (see bench/bench_query.c).
pkg_check_modules(SQLITE3 IMPORTED_TARGET sqlite3)
if(SQLITE3_FOUND AND TARGET trace-query)
  add_executable(bench-query ${CMAKE_CURRENT_SOURCE_DIR}/bench_query.c
                             ${CMAKE_SOURCE_DIR}/query/stats_calc.c
                             ${CMAKE_SOURCE_DIR}/query/reader.c)
  target_include_directories(bench-query PRIVATE ${CMAKE_SOURCE_DIR}/query)
  target_link_libraries(bench-query PRIVATE benchsqlite tracestore PkgConfig::SQLITE3)
  target_compile_definitions(bench-query PRIVATE AGENTTRAIL_SHARED_DIR="${AGENTTRAIL_SHARED}"
                             AGENTTRAIL_BIN_DIR="${CMAKE_BINARY_DIR}/bin")
  add_dependencies(bench-query trace-query)
else()
  message(STATUS "sqlite3 or trace-query missing: bench-query is not built")
endif()
