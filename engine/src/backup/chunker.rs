//! Content-defined chunking of a stream: FastCDC 2020 run over one reused buffer of twice the
//! largest chunk. Boundaries are exactly those of FastCDC over the whole stream (a chunk's end
//! depends only on the bytes since its start; the last cut in a buffer that is not the end of
//! the stream is held back and found again once more bytes are in). Owns that buffering; must
//! not know what happens to chunks.

use std::io::{self, Read};

use fastcdc::v2020::FastCDC;

use super::model::ChunkerParams;

/// Splits streams into chunks; keep one per thread and reuse it for every file.
pub struct Chunker {
    params: ChunkerParams,
    buf: Vec<u8>,
}

impl Chunker {
    pub fn new(params: ChunkerParams) -> Self {
        Self {
            params,
            buf: Vec::new(),
        }
    }

    /// Calls `each` with every chunk of `r`, in order, and returns how many bytes were read.
    /// Stops at the first error of the reader or of `each`.
    pub fn chunks<E: From<io::Error>>(
        &mut self,
        r: &mut impl Read,
        mut each: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<u64, E> {
        let ChunkerParams { min, avg, max } = self.params;
        let cap = 2 * max as usize;
        if self.buf.len() < cap {
            self.buf.resize(cap, 0);
        }
        let (mut len, mut total, mut eof) = (0usize, 0u64, false);
        loop {
            while !eof && len < cap {
                match r.read(&mut self.buf[len..cap]) {
                    Ok(0) => eof = true,
                    Ok(n) => len += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.into()),
                }
            }
            let mut used = 0;
            for c in FastCDC::new(&self.buf[..len], min, avg, max) {
                let end = c.offset + c.length;
                if end == len && !eof {
                    break;
                }
                each(&self.buf[c.offset..end])?;
                used = end;
            }
            total += used as u64;
            self.buf.copy_within(used..len, 0);
            len -= used;
            if eof && len == 0 {
                return Ok(total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> ChunkerParams {
        ChunkerParams {
            min: 1024,
            avg: 4096,
            max: 16384,
        }
    }

    /// A reader that hands out at most `step` bytes per call, as pipes and sockets do.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(out.len()).min(self.1);
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn boundaries_are_those_of_the_whole_stream() {
        let data: Vec<u8> = (0..300_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let p = params();
        let whole: Vec<Vec<u8>> = FastCDC::new(&data, p.min, p.avg, p.max)
            .map(|c| data[c.offset..c.offset + c.length].to_vec())
            .collect();
        assert!(whole.len() > 20);
        let mut chunker = Chunker::new(p);
        for step in [1000, 7777, 1 << 20] {
            let mut got = Vec::new();
            let n = chunker
                .chunks(&mut Trickle(&data, step), |c| {
                    got.push(c.to_vec());
                    Ok::<_, io::Error>(())
                })
                .unwrap();
            assert_eq!(n, data.len() as u64);
            assert_eq!(got, whole, "read {step} bytes at a time");
        }
        let mut none = 0;
        let n = chunker
            .chunks(&mut io::empty(), |_| {
                none += 1;
                Ok::<_, io::Error>(())
            })
            .unwrap();
        assert_eq!((n, none), (0, 0));
    }
}
