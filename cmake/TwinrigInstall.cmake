# How twinrig is laid out, built and installed (util/install_layout.h reads the same rule):
#   bin/twinrig, lib/twinrig/<helpers>, share/twinrig/{head,demo-data,web}
# The build tree gets the same shape: its programs sit in app/, and share/twinrig/ beside it links
# to the data in the source tree, so a built twinrig and an installed one find things alike.
include(GNUInstallDirs)

set(_data_links head "${PROJECT_SOURCE_DIR}/sim/data/head"
                demo-data "${PROJECT_SOURCE_DIR}/scripts/demo-data"
                web "${PROJECT_SOURCE_DIR}/web/dist"
                firmware "${PROJECT_BINARY_DIR}/firmware/rig/boards/mps2_an385")
file(MAKE_DIRECTORY "${PROJECT_BINARY_DIR}/share/twinrig")
while(_data_links)
  list(POP_FRONT _data_links _name _target)
  file(CREATE_LINK "${_target}" "${PROJECT_BINARY_DIR}/share/twinrig/${_name}" SYMBOLIC)
endwhile()

# No path of the build machine in an installed binary: __FILE__ (checks, logs) and debug info
# name files relative to the source and build trees.
target_compile_options(twinrig_project_options INTERFACE
  "-ffile-prefix-map=${PROJECT_SOURCE_DIR}/="
  "-ffile-prefix-map=${PROJECT_BINARY_DIR}/=")

# `twinrig-programs`: what a studio runs (the command, its helpers, its man pages), without the
# tests and benchmarks; `scripts/demo` builds this, and installing needs only this.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
add_custom_target(twinrig-programs)
install(TARGETS twinrig RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
add_dependencies(twinrig-programs twinrig)
foreach(helper twinrig-camera-worker twinrig-sim-studio twinrig-node-sim twinrig-render-view)
  install(TARGETS ${helper} RUNTIME DESTINATION lib/twinrig)  # private helpers: /usr/lib/twinrig, as Debian lays them
  add_dependencies(twinrig-programs ${helper})
endforeach()
if(TWINRIG_WITH_FIRMWARE_IMAGE)
  add_dependencies(twinrig-programs twinrig-firmware-image)
endif()
install(DIRECTORY "${PROJECT_SOURCE_DIR}/sim/data/head/"
        DESTINATION ${CMAKE_INSTALL_DATADIR}/twinrig/head)
install(DIRECTORY "${PROJECT_SOURCE_DIR}/scripts/demo-data/"
        DESTINATION ${CMAKE_INSTALL_DATADIR}/twinrig/demo-data)
# The trigger-node firmware image (cross-built when arm-none-eabi-gcc is there) for QEMU nodes.
if(TWINRIG_FIRMWARE_IMAGE)
  install(FILES "${TWINRIG_FIRMWARE_IMAGE}" DESTINATION ${CMAKE_INSTALL_DATADIR}/twinrig/firmware)
endif()
# The review station's front end, built by scripts/setup (npm) before the package is made.
install(DIRECTORY "${PROJECT_SOURCE_DIR}/web/dist/"
        DESTINATION ${CMAKE_INSTALL_DATADIR}/twinrig/web)

# The review station as a service, its settings in /etc, shell completion.
install(FILES "${PROJECT_SOURCE_DIR}/packaging/twinrig-review.service"
        DESTINATION lib/systemd/system)
install(FILES "${PROJECT_SOURCE_DIR}/packaging/review.toml"
        DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/twinrig)
install(FILES "${PROJECT_SOURCE_DIR}/packaging/twinrig.bash-completion"
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME twinrig)

# A man page per command, written by help2man from each command's own --help.
find_program(HELP2MAN help2man)
if(HELP2MAN)
  set(_man_dir "${PROJECT_BINARY_DIR}/man")
  add_custom_command(
    OUTPUT "${_man_dir}/twinrig.1"
    COMMAND "${CMAKE_COMMAND}" -E env ASAN_OPTIONS=detect_leaks=0
            "${PROJECT_SOURCE_DIR}/packaging/make-man-pages" "$<TARGET_FILE:twinrig>" "${_man_dir}"
    DEPENDS twinrig "${PROJECT_SOURCE_DIR}/packaging/make-man-pages"
    COMMENT "man pages (help2man)")
  add_custom_target(twinrig-man ALL DEPENDS "${_man_dir}/twinrig.1")
  add_dependencies(twinrig-programs twinrig-man)
  install(DIRECTORY "${_man_dir}/" DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 FILES_MATCHING
          PATTERN "*.1")
endif()

# `cpack` in a build folder makes twinrig_<version>_<arch>.deb. Its Depends come from the
# libraries the programs link (dpkg-shlibdeps) plus the programs twinrig runs.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME twinrig)
set(CPACK_PACKAGE_VENDOR "twinrig")
set(CPACK_PACKAGE_CONTACT "twinrig maintainers")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "photogrammetry studio station for consented digital twins of people")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "colmap, gphoto2")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA "${PROJECT_SOURCE_DIR}/packaging/conffiles")
include(CPack)
