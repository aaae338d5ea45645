# Every project target links vp_build_flags: warnings, -Werror in CI, optional sanitizers.
add_library(vp_build_flags INTERFACE)
target_compile_features(vp_build_flags INTERFACE cxx_std_20)
target_compile_options(vp_build_flags INTERFACE
  -Wall -Wextra -Wpedantic -Wconversion -Wshadow -Wsign-conversion
  $<$<BOOL:${VP_WERROR}>:-Werror>)
if(VP_SANITIZE)
  target_compile_options(vp_build_flags INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer)
  target_link_options(vp_build_flags INTERFACE -fsanitize=address,undefined)
endif()
if(VP_SANITIZE_THREAD)
  if(VP_SANITIZE)
    message(FATAL_ERROR "VP_SANITIZE_THREAD and VP_SANITIZE exclude each other (ThreadSanitizer cannot run with ASan)")
  endif()
  target_compile_options(vp_build_flags INTERFACE -fsanitize=thread -fno-omit-frame-pointer)
  target_link_options(vp_build_flags INTERFACE -fsanitize=thread)
endif()
if(VP_BUILD_FUZZ)
  # Coverage instrumentation for every project library, so libFuzzer sees the parsers.
  target_compile_options(vp_build_flags INTERFACE -fsanitize=fuzzer-no-link,address,undefined)
  target_link_options(vp_build_flags INTERFACE -fsanitize=address,undefined)
endif()
