# bench-store: libtracestore against SQLite in the same run (see bench/bench_store.c, README).
pkg_check_modules(SQLITE3 IMPORTED_TARGET sqlite3)
if(SQLITE3_FOUND)
  add_executable(bench-store ${CMAKE_CURRENT_SOURCE_DIR}/bench_store.c)
  target_link_libraries(bench-store PRIVATE benchsqlite tracestore PkgConfig::SQLITE3)
  target_compile_definitions(bench-store PRIVATE AGENTTRAIL_SHARED_DIR="${AGENTTRAIL_SHARED}")
else()
  message(STATUS "sqlite3 not found: bench-store is not built")
endif()
