# Builds tests/kernels/cuda in a checkout whose tests/kernels/CMakeLists.txt does not add it
# (yet):  cmake ... -DCMAKE_PROJECT_INCLUDE=<repo>/tools/device/cuda_tests_hook.cmake
# It wraps add_subdirectory() to add the folder right after tests/kernels.
macro(add_subdirectory)
  _add_subdirectory(${ARGV})
  if("${ARGV0}" STREQUAL "kernels" AND CMAKE_CURRENT_SOURCE_DIR STREQUAL "${CMAKE_SOURCE_DIR}/tests"
     AND STRATA_HAVE_CUDA AND NOT TARGET strata-cuda-ops-test)
    _add_subdirectory(${CMAKE_SOURCE_DIR}/tests/kernels/cuda
                      ${CMAKE_BINARY_DIR}/tests/kernels/cuda-device)
  endif()
endmacro()
