# libtraceshim: what services link (traceshim.h): queue, batch, send, retry, disk spool.
add_library(traceshim STATIC ${CMAKE_CURRENT_SOURCE_DIR}/shim.c ${CMAKE_CURRENT_SOURCE_DIR}/spool.c
            ${CMAKE_CURRENT_SOURCE_DIR}/shim_loop.c ${CMAKE_CURRENT_SOURCE_DIR}/shim_replay.c
            ${CMAKE_CURRENT_SOURCE_DIR}/shim_monitor.c)
target_include_directories(traceshim PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(traceshim PUBLIC traceproto PkgConfig::ZMQ Threads::Threads)
set_target_properties(traceshim PROPERTIES POSITION_INDEPENDENT_CODE ON)

# trace-shim's send mode (shim_send.c) links the library; trace-shim is defined in CMakeLists.txt.
if(TARGET trace-shim)
  target_sources(trace-shim PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/shim_send.c)
  target_link_libraries(trace-shim PRIVATE traceshim)
endif()
