# libtraceshim: what services link (traceshim.h): queue, batch, send, retry, disk spool.
add_library(traceshim STATIC ${CMAKE_CURRENT_SOURCE_DIR}/shim.c ${CMAKE_CURRENT_SOURCE_DIR}/spool.c)
target_include_directories(traceshim PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(traceshim PUBLIC traceproto PkgConfig::ZMQ Threads::Threads)
set_target_properties(traceshim PROPERTIES POSITION_INDEPENDENT_CODE ON)
