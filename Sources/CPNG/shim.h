// libpng 1.6 (Debian's libpng-dev): the simplified API (png_image_*) encodes and decodes
// whole 8-bit RGB buffers in memory.
#include <png.h>
