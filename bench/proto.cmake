# bench-proto: the codec's cost per event on the shared data (JSON parse and write, pack,
# unpack with validation, the shim's prepare), against jansson parsing the same lines alone,
# measured in the same run (see bench/bench_proto.c).
add_executable(bench-proto ${CMAKE_CURRENT_SOURCE_DIR}/bench_proto.c)
target_link_libraries(bench-proto PRIVATE benchcommon traceproto PkgConfig::JANSSON)
target_compile_definitions(bench-proto PRIVATE AGENTTRAIL_SHARED_DIR="${AGENTTRAIL_SHARED}")
