# `make package`: keel_<version>_amd64.deb through CPack's DEB generator. Depends come from
# dpkg-shlibdeps on the installed binaries (the runtime libraries, never -dev packages), plus
# the BLAS runtime Debian's LibTorch needs to be fast; the corpus tools and mpirun are Recommends.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME keel)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "keel developers")
set(CPACK_PACKAGE_CONTACT "keel developers <keel-dev@keel-project.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "power-aware AI training and inference toolkit")
# CPack writes the summary as the synopsis line; this is the extended description under it.
string(CONCAT CPACK_PACKAGE_DESCRIPTION
    "keel is one command line over three engines: a datacenter power simulator for\n"
    "synchronous AI training judged against a utility spec (keel power), a CPU\n"
    "trainer for M-CNN on full-resolution microscopy images (keel mcnn), and\n"
    "Transformer translation with INT8 GEMMs on VNNI (keel nmt).")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://keel-project.org")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libopenblas0-openmp")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS
    "openmpi-bin, apertium, apertium-eng-spa, wordnet-base, fortunes, trans-de-en")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_STRIP_FILES ON)
# Lintian wants 0755 directories whatever the builder's umask.
set(CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

# Debian policy files: copyright, and the changelog gzipped reproducibly (-n, max compression).
configure_file(${PROJECT_SOURCE_DIR}/packaging/debian/changelog.in ${PROJECT_BINARY_DIR}/debian/changelog @ONLY)
add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/debian/changelog.gz
  COMMAND gzip -9nc ${PROJECT_BINARY_DIR}/debian/changelog > ${PROJECT_BINARY_DIR}/debian/changelog.gz
  DEPENDS ${PROJECT_BINARY_DIR}/debian/changelog VERBATIM)
add_custom_target(keel_debian_docs ALL DEPENDS ${PROJECT_BINARY_DIR}/debian/changelog.gz)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/debian/copyright ${PROJECT_BINARY_DIR}/debian/changelog.gz
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
include(CPack)
