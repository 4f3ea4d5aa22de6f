# Cross toolchain for the trigger-node firmware: Debian's arm-none-eabi-gcc for a Cortex-M3 (the
# core of the MPS2 AN385 board that QEMU emulates as mps2-an385). Used by the `firmware` preset:
#   cmake --preset firmware && cmake --build --preset firmware
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_CXX_COMPILER arm-none-eabi-g++)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_SIZE arm-none-eabi-size)
# Bare metal: the compiler checks cannot link a program without the board's startup code.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(_cpu "-mcpu=cortex-m3 -mthumb")
set(CMAKE_C_FLAGS_INIT "${_cpu} -ffunction-sections -fdata-sections")
# No exceptions, no RTTI, no guarded statics (single execution context), no atexit destructors.
set(CMAKE_CXX_FLAGS_INIT
    "${_cpu} -ffunction-sections -fdata-sections -fno-exceptions -fno-rtti -fno-threadsafe-statics -fno-use-cxa-atexit")
# newlib-nano; nosys stubs for the few system calls newlib references.
set(CMAKE_EXE_LINKER_FLAGS_INIT "${_cpu} --specs=nano.specs --specs=nosys.specs -Wl,--gc-sections")

# Host programs (flatc) are found on the host; libraries and headers only for the target.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
