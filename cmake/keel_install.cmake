# `cmake --install` (GNUInstallDirs), man pages, bash completion and the Debian package (CPack).
#   bin/keel                          libexec/keel/keel-train
#   share/keel/examples/              share/keel/models/en-es-int8/
#   share/doc/keel/                   share/man/man1/keel*.1
#   share/bash-completion/completions/keel
# keel finds keel-train and the models relative to its own executable (apps/keel/install_paths.h).
include(GNUInstallDirs)

install(TARGETS keel RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(KEEL_BUILD_MCNN)
  install(TARGETS keel-train RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/keel)
endif()
install(DIRECTORY examples/ DESTINATION ${CMAKE_INSTALL_DATADIR}/keel/examples)
install(DIRECTORY models/en-es-int8 DESTINATION ${CMAKE_INSTALL_DATADIR}/keel/models)
install(FILES README.md LICENSE NOTICE DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} FILES_MATCHING PATTERN "*.md")

# Man pages from --help (Debian's help2man): keel(1) and one per engine with every verb's flags.
option(KEEL_MANPAGES "Generate man pages with help2man" ON)
set(keel_man_dir ${PROJECT_BINARY_DIR}/man)
set(keel_generated_docs)
if(KEEL_MANPAGES)
  find_program(HELP2MAN help2man)
  if(NOT HELP2MAN)
    message(FATAL_ERROR "help2man not found: run scripts/install-deps.sh (or configure with "
                        "-DKEEL_MANPAGES=OFF)")
  endif()
  set(engines "power;nmt")
  if(KEEL_BUILD_MCNN)
    list(APPEND engines mcnn)
  endif()
  set(keel_power_what "datacenter power simulator for synchronous AI training")
  set(keel_nmt_what "Transformer translation with INT8 GEMMs, training and BLEU")
  set(keel_mcnn_what "M-CNN trainer for full-resolution microscopy images")
  # Pages are installed gzipped (-n: no timestamp, so the package is reproducible).
  add_custom_command(OUTPUT ${keel_man_dir}/keel.1 ${keel_man_dir}/keel.1.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${keel_man_dir}
    COMMAND ${HELP2MAN} --no-info --no-discard-stderr
            --name "power-aware AI training and inference toolkit" --output ${keel_man_dir}/keel.1
            $<TARGET_FILE:keel>
    COMMAND sh -c "gzip -9nc ${keel_man_dir}/keel.1 > ${keel_man_dir}/keel.1.gz"
    DEPENDS keel VERBATIM)
  list(APPEND keel_generated_docs ${keel_man_dir}/keel.1.gz)
  foreach(engine IN LISTS engines)
    # help2man names the page after the program it runs: a wrapper called keel-ENGINE.
    file(GENERATE OUTPUT ${keel_man_dir}/wrap/keel-${engine}
         CONTENT "#!/bin/sh\nexec sh ${PROJECT_SOURCE_DIR}/cmake/keel_man_help.sh $<TARGET_FILE:keel> ${engine} \"$@\"\n"
         FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
    set(page ${keel_man_dir}/keel-${engine}.1)
    add_custom_command(OUTPUT ${page} ${page}.gz
      COMMAND ${HELP2MAN} --no-info --no-discard-stderr --name "${keel_${engine}_what}"
              --output ${page} ${keel_man_dir}/wrap/keel-${engine}
      COMMAND sh -c "gzip -9nc ${page} > ${page}.gz"
      DEPENDS keel ${PROJECT_SOURCE_DIR}/cmake/keel_man_help.sh VERBATIM)
    list(APPEND keel_generated_docs ${page}.gz)
  endforeach()
  install(DIRECTORY ${keel_man_dir}/ DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
          FILES_MATCHING PATTERN "*.1.gz" PATTERN wrap EXCLUDE)
endif()

# Bash completion, generated from the CLI's own definition (apps/keel/completion.h).
add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/completion/keel
  COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/completion
  COMMAND sh -c "$<TARGET_FILE:keel> completion bash > ${PROJECT_BINARY_DIR}/completion/keel.tmp && mv ${PROJECT_BINARY_DIR}/completion/keel.tmp ${PROJECT_BINARY_DIR}/completion/keel"
  DEPENDS keel VERBATIM)
list(APPEND keel_generated_docs ${PROJECT_BINARY_DIR}/completion/keel)
add_custom_target(keel_docs ALL DEPENDS ${keel_generated_docs})
install(FILES ${PROJECT_BINARY_DIR}/completion/keel
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)

include(cmake/keel_package.cmake)
