# Warnings, sanitizers and the allocator, applied per target through keel_target_defaults().

add_library(keel_warnings INTERFACE)
target_compile_options(keel_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion -Wnon-virtual-dtor
  -Wold-style-cast -Wcast-align -Woverloaded-virtual -Wimplicit-fallthrough
  # GCC 12 reports false -Wrestrict positives inside libstdc++ string code at -O3 (GCC PR 105329).
  $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict>)
if(KEEL_WERROR)
  target_compile_options(keel_warnings INTERFACE -Werror)
endif()

if(KEEL_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
  # tcmalloc and ASan both replace malloc: they cannot be combined.
  set(KEEL_TCMALLOC OFF CACHE BOOL "" FORCE)
endif()

# Fresh pages are very slow to touch on our VMs and glibc malloc returns large buffers to the OS,
# paying that cost again on every allocation; tcmalloc keeps them (measured 6x on a conv step).
function(keel_link_allocator target)
  if(KEEL_TCMALLOC)
    target_link_libraries(${target} PRIVATE PkgConfig::tcmalloc_minimal)
    # Keep the library even though no symbol is referenced directly.
    target_link_options(${target} PRIVATE -Wl,--no-as-needed)
  endif()
endfunction()

# No build-machine paths in the binaries (__FILE__ in asserts and logging, debug info): source and
# build directories are written relative. GCC applies the last matching map, so the build tree
# (often inside the source tree) comes second.
add_compile_options(-ffile-prefix-map=${PROJECT_SOURCE_DIR}/= -ffile-prefix-map=${PROJECT_BINARY_DIR}/=)
