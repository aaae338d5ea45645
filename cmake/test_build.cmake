# The tests, their support code and the simulator are compiled for build time, not for
# speed or a debugger: at -O2 -g they were most of a fresh clone's `make test`. The
# production program and its libraries keep CMAKE_BUILD_TYPE's flags; these options come
# after those on the command line, so they win (the last -O, and -g0 after -g). Set
# VP_TEST_COMPILE_OPTIONS empty to compile the tests like the program (e.g. to debug one).
if(CMAKE_BUILD_TYPE STREQUAL "Debug")
  set(vp_test_compile_options_default "")
else()
  set(vp_test_compile_options_default "-O1;-g0")
endif()
set(VP_TEST_COMPILE_OPTIONS "${vp_test_compile_options_default}" CACHE STRING
    "Compiler options for the tests, the test PKI and the simulator (after the build type's)")

function(vp_compile_for_tests target)
  target_compile_options(${target} PRIVATE ${VP_TEST_COMPILE_OPTIONS})
endfunction()
