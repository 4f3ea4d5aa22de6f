// Built into every twinrig executable of a sanitizer build: the sanitizers' default options and the
// known leaks of system libraries, so that the same settings hold however the program is started
// (by CTest, by a test that spawns `twinrig`, or by hand).
extern "C" {

const char* __asan_default_options() {  // NOLINT(bugprone-reserved-identifier)
  // Full unwinding lets the suppressions below match stacks that pass through dlopen'ed modules.
  return "detect_leaks=1:fast_unwind_on_malloc=0";
}

const char* __ubsan_default_options() {  // NOLINT(bugprone-reserved-identifier)
  return "print_stacktrace=1:halt_on_error=1";
}

const char* __lsan_default_options() {  // NOLINT(bugprone-reserved-identifier)
  return "print_suppressions=0";
}

const char* __lsan_default_suppressions() {  // NOLINT(bugprone-reserved-identifier)
  // libgphoto2_port 2.5.30 leaks 8 bytes per port driver when it loads its port list (libltdl);
  // not twinrig's memory to free.
  // OpenCV 4.6 allocates its RGB<->Lab lookup tables once and keeps them for the process's life.
  return "leak:gp_port_info_list_load\n"
         "leak:cvtBGRtoLab\n"
         "leak:libopencv_imgproc.so\n";
}

}  // extern "C"
