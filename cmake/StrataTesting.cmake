include(GoogleTest)
# strata_test(NAME SOURCES src... LIBS lib...): a GoogleTest binary registered with CTest.
# Tests run from the source root with STRATA_SOURCE_DIR and STRATA_BINARY_DIR set. (The
# environment goes through an `cmake -E env` launcher: gtest_discover_tests would split an
# ENVIRONMENT list at its semicolons.)
function(strata_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gmock GTest::gtest_main)
  set_target_properties(${name} PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests
    CROSSCOMPILING_EMULATOR "${CMAKE_COMMAND};-E;env;STRATA_SOURCE_DIR=${CMAKE_SOURCE_DIR};STRATA_BINARY_DIR=${CMAKE_BINARY_DIR}")
  gtest_discover_tests(${name} WORKING_DIRECTORY ${CMAKE_SOURCE_DIR} DISCOVERY_TIMEOUT 60)
endfunction()
