// Shim only: OpenBLAS's CBLAS interface and its runtime queries (corename, threads).
#include <cblas.h>
