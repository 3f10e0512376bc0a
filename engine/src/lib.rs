//! Jobs that run over a Vfs: transfer (copy, move, sync, check) and backup. Nothing is built
//! here yet; the crate exists so the dependency direction cli → engine → fs is fixed from the
//! start. It must never reach the kernel mount or a provider directly.
