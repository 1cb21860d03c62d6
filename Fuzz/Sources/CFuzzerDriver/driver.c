// The declaration in include/ is the whole module; libFuzzer (linked by -sanitize=fuzzer) defines it.
#include "CFuzzerDriver.h"
