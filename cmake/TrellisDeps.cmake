# Finds every third-party package of the fixed stack (all from Debian packages).
# Components link only the targets they use.

find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

# msgpack-c (C++ API). Its config pulls in Boost; we build it without Boost support so
# that headers stay light (MSGPACK_NO_BOOST), which msgpack-cxx 4.x supports.
find_package(msgpack CONFIG REQUIRED)
if(TARGET msgpackc-cxx)
  set_property(TARGET msgpackc-cxx APPEND PROPERTY INTERFACE_COMPILE_DEFINITIONS MSGPACK_NO_BOOST)
endif()

pkg_check_modules(LMDB REQUIRED IMPORTED_TARGET lmdb)
pkg_check_modules(LIBNL REQUIRED IMPORTED_TARGET libnl-3.0 libnl-route-3.0)
pkg_check_modules(ZMQ REQUIRED IMPORTED_TARGET libzmq)

find_package(cppzmq CONFIG QUIET)
find_package(spdlog CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(Boost 1.74 REQUIRED)

if(TRELLIS_BUILD_TESTS)
  find_package(GTest CONFIG REQUIRED)
endif()
if(TRELLIS_BUILD_BENCH)
  find_package(benchmark CONFIG REQUIRED)
endif()

# Boost 1.74's asio/awaitable.hpp misses #include <utility> under GCC 12 in C++20.
# Targets that include Asio call this to force-include <utility> first.
function(trellis_asio_fix target)
  target_compile_options(${target} PRIVATE "SHELL:-include utility")
endfunction()

# trellis_add_gtest(NAME name SOURCES ... LIBS ... [LABELS ...] [WRAPPER cmd...])
# Builds one GoogleTest binary and registers it as a single ctest test (one process per
# suite keeps the run fast on 2 cores). WRAPPER runs the binary through a command, e.g.
# the private-namespace harness for kernel tests.
function(trellis_add_gtest)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS;WRAPPER" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main GTest::gmock)
  add_test(NAME ${T_NAME} COMMAND ${T_WRAPPER} $<TARGET_FILE:${T_NAME}>)
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT})
endfunction()
