# Proto fuzz targets: the two decoders of untrusted input in libtraceproto.
# fuzz_batch_decode: a framed Batch from the network, then every event in it.
# fuzz_json_line: one JSON line as a service hands it to trace-shim.
agenttrail_add_fuzzer(fuzz_batch_decode ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_batch_decode.c traceproto)
agenttrail_add_fuzzer(fuzz_json_line ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_json_line.c traceproto)
