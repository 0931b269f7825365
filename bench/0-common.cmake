# benchcommon: helpers every benchmark shares (clocks, bench_die, number parsing, temp-tree
# removal, waiting for a child, gen-events; bench/bench_common.h). benchevents: the gen-events
# lines and the store-alone baseline of the ingest benchmarks (bench/bench_events.h).
# benchsqlite: the SQLite baseline of bench-store and bench-query (bench/bench_sqlite.h). Named 0-common so it is included before the other
# bench/*.cmake fragments, which link these libraries.
add_library(benchcommon STATIC ${CMAKE_CURRENT_SOURCE_DIR}/bench_common.c)
target_include_directories(benchcommon PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_definitions(benchcommon PRIVATE AGENTTRAIL_SHARED_DIR="${AGENTTRAIL_SHARED}")
add_library(benchevents STATIC ${CMAKE_CURRENT_SOURCE_DIR}/bench_events.c)
target_link_libraries(benchevents PUBLIC benchcommon tracestore)
pkg_check_modules(SQLITE3 IMPORTED_TARGET sqlite3)
if(SQLITE3_FOUND)
  add_library(benchsqlite STATIC ${CMAKE_CURRENT_SOURCE_DIR}/bench_sqlite.c)
  target_link_libraries(benchsqlite PUBLIC benchcommon tracestore PkgConfig::SQLITE3)
endif()
