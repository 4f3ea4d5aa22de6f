# Compiler settings shared by every twinrig target.
set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
set(CMAKE_EXPORT_COMPILE_COMMANDS ON)
set(CMAKE_POSITION_INDEPENDENT_CODE ON)

# Warnings are errors for the project's own code only (see twinrig_project_options).
add_library(twinrig_project_options INTERFACE)
target_compile_options(twinrig_project_options INTERFACE
  -Wall -Wextra -Wpedantic -Werror
  -Wshadow -Wnon-virtual-dtor -Wcast-align -Woverloaded-virtual
  -Wno-missing-field-initializers
  # GCC 12 at -O3 reports std::vector::insert and std::copy of fixed arrays as stringop-overflow
  # or array-bounds where there is none (known false positives of that release); keep them
  # warnings, not errors.
  $<$<CXX_COMPILER_ID:GNU>:-Wno-error=stringop-overflow>
  $<$<CXX_COMPILER_ID:GNU>:-Wno-error=array-bounds>)

if(TWINRIG_SANITIZE)
  set(_san -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_compile_options(twinrig_project_options INTERFACE ${_san})
  target_link_options(twinrig_project_options INTERFACE ${_san})
endif()
