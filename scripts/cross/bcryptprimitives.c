/* bcryptprimitives.dll for Wine 8 (Debian 12), which lacks it: Rust's std (1.78 and later)
 * imports ProcessPrng from it for randomness. This one answers through BCryptGenRandom, as
 * Windows' own does. Only the Wine test prefix gets it; the .exe itself is unchanged. */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    return BCryptGenRandom(NULL, data, (ULONG)len, BCRYPT_USE_SYSTEM_PREFERRED_RNG) == 0;
}
