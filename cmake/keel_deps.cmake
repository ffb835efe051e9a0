# Every third-party library keel uses comes from Debian (scripts/install-deps.sh).
find_package(PkgConfig REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(tomlplusplus CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(fmt CONFIG REQUIRED)
find_package(Threads REQUIRED)
find_package(ZLIB REQUIRED)      # nmt model file checksum (crc32)
find_package(ICU REQUIRED COMPONENTS uc data)  # nmt BLEU: Unicode categories, lowercasing
# nmt GEMMs: oneDNN 2.6. Its CMake config insists on OpenCL headers (Debian builds it with the
# OpenCL GPU runtime), which keel does not use, so the library is found directly.
find_path(DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.hpp REQUIRED)
find_library(DNNL_LIBRARY dnnl REQUIRED)
add_library(keel_dnnl INTERFACE IMPORTED)
target_include_directories(keel_dnnl INTERFACE ${DNNL_INCLUDE_DIR})
target_link_libraries(keel_dnnl INTERFACE ${DNNL_LIBRARY})
find_package(OpenMP REQUIRED)    # oneDNN's threading runtime; nmt's own loops share it
pkg_check_modules(fftw3 REQUIRED IMPORTED_TARGET fftw3)
# nmt tokenization: libsentencepiece (processor and trainer)
pkg_check_modules(sentencepiece REQUIRED IMPORTED_TARGET sentencepiece)
# keel nmt serve: HTTP server and client (Debian builds it as a library, with TLS and compression).
pkg_check_modules(httplib REQUIRED IMPORTED_TARGET cpp-httplib)
# PyTorch checkpoints (torch.save's zip archives) for keel nmt import.
pkg_check_modules(libzip REQUIRED IMPORTED_TARGET libzip)
# train / mcnn: Debian's LibTorch (imported target `torch`, its headers come in as SYSTEM, which
# keeps -Werror usable), OpenMPI and libtiff.
if(KEEL_BUILD_MCNN)
  find_package(Torch CONFIG REQUIRED)
endif()
# MPI: data-parallel training, and `keel power sweep` split over ranks.
set(MPI_CXX_SKIP_MPICXX ON)  # the C API only; no deprecated C++ bindings
find_package(MPI REQUIRED COMPONENTS CXX)
find_package(TIFF REQUIRED)  # mcnn's reader; its fuzz harness builds without LibTorch too
if(KEEL_TCMALLOC)
  pkg_check_modules(tcmalloc_minimal REQUIRED IMPORTED_TARGET libtcmalloc_minimal)
endif()
if(KEEL_BUILD_TESTS)
  find_package(GTest CONFIG REQUIRED)
endif()
if(KEEL_BUILD_BENCH)
  find_package(benchmark CONFIG REQUIRED)
endif()
