# bench-otlp: durable spans/s through the collector's OTLP/HTTP receiver with K concurrent
# HTTP clients, against the ZeroMQ path (libtraceshim) and the store alone, in the same run
# (bench/bench_otlp.c). Its protobuf bodies come from the tests' protobuf writer
# (tests/support/pb_write.c), compiled in.
add_executable(bench-otlp ${CMAKE_CURRENT_SOURCE_DIR}/bench_otlp.c
                          ${CMAKE_SOURCE_DIR}/tests/support/pb_write.c)
target_include_directories(bench-otlp PRIVATE ${CMAKE_SOURCE_DIR}/tests/support)
target_link_libraries(bench-otlp PRIVATE benchevents traceshim tracestore PkgConfig::JANSSON)
target_compile_definitions(bench-otlp PRIVATE AGENTTRAIL_SHARED_DIR="${AGENTTRAIL_SHARED}")
add_dependencies(bench-otlp trace-collector)
