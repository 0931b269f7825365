# bench-otlp: durable spans/s through the collector's OTLP/HTTP receiver with K concurrent
# HTTP clients, against the ZeroMQ path (libtraceshim) and the store alone, in the same run
# (bench/bench_otlp.c).
add_executable(bench-otlp ${CMAKE_CURRENT_SOURCE_DIR}/bench_otlp.c)
target_link_libraries(bench-otlp PRIVATE benchevents traceshim tracestore PkgConfig::JANSSON)
target_compile_definitions(bench-otlp PRIVATE AGENTTRAIL_SHARED_DIR="${AGENTTRAIL_SHARED}")
add_dependencies(bench-otlp trace-collector)
