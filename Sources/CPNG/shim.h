// Shim only: libpng's simplified write API (png_image_write_to_file / _to_memory) for QC pictures.
#include <png.h>
