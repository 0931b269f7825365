# bench-pipeline: durable end-to-end ingest through libtraceshim and trace-collector, emit
# cost, and SIGKILLs of the collector with a set check (bench/bench_pipeline.c).
add_executable(bench-pipeline ${CMAKE_CURRENT_SOURCE_DIR}/bench_pipeline.c)
target_link_libraries(bench-pipeline PRIVATE benchevents traceshim tracestore)
target_compile_definitions(bench-pipeline PRIVATE AGENTTRAIL_SHARED_DIR="${AGENTTRAIL_SHARED}")
add_dependencies(bench-pipeline trace-collector)
