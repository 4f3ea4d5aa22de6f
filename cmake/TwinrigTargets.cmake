# twinrig_add_library(NAME folder/name SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
#   One folder = one library = one namespace. Includes are rooted at the repository top,
#   so `#include "store/catalog.h"` works everywhere.
function(twinrig_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE twinrig_project_options ${ARG_PRIVATE_DEPS})
endfunction()

# twinrig_add_test(NAME SOURCES ... DEPS ...)
#   A Catch2 test executable. Each TEST_CASE carries one of the tags [unit], [integration] or [slow];
#   CTest gets one test per case, labelled by its tag, so `ctest -L unit` runs the fast ones.
function(twinrig_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  twinrig_add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE twinrig_test_main ${ARG_DEPS} twinrig_project_options)
  foreach(label unit integration slow)
    catch_discover_tests(${name}
      TEST_SPEC "[${label}]"
      PROPERTIES LABELS ${label}
      TEST_PREFIX "${label}:"
      WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
      EXTRA_ARGS --use-colour no)
  endforeach()
endfunction()

# twinrig_add_executable(NAME sources...) — an executable of the project; sanitizer builds get the
# project's sanitizer defaults (cmake/sanitizer_defaults.cc) compiled in.
function(twinrig_add_executable name)
  add_executable(${name} ${ARGN})
  if(TWINRIG_SANITIZE)
    target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/cmake/sanitizer_defaults.cc)
  endif()
endfunction()
