//! A safe wrapper over libdeflate's whole-member gzip decoder.
//!
//! libdeflater (the usual safe crate) does not expose `libdeflate_gzip_decompress_ex`, which
//! reports how many input bytes a member used; concatenated members need that number.

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_free_decompressor,
    libdeflate_gzip_decompress_ex, libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE,
    libdeflate_result_LIBDEFLATE_SUCCESS,
};

/// Why a member could not be decoded in one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MemberError {
    /// Invalid data, or the member does not end inside the given input.
    BadOrIncomplete,
    /// The member decompresses to more than the output buffer holds.
    OutputTooSmall,
}

/// One libdeflate decompressor (owns its C allocation).
pub(crate) struct GzipMemberDecoder {
    raw: std::ptr::NonNull<libdeflate_decompressor>,
}

// The decompressor is plain heap state with no thread affinity.
unsafe impl Send for GzipMemberDecoder {}

impl GzipMemberDecoder {
    /// Allocates a decompressor; `None` only when the C allocation fails.
    pub(crate) fn new() -> Option<Self> {
        // SAFETY: no preconditions; a null return is handled.
        let raw = unsafe { libdeflate_alloc_decompressor() };
        std::ptr::NonNull::new(raw).map(|raw| Self { raw })
    }

    /// Decodes the gzip member at the start of `input` into `out`; returns
    /// `(input bytes used, output bytes written)`.
    pub(crate) fn decode(
        &mut self,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<(usize, usize), MemberError> {
        let (mut used, mut written) = (0usize, 0usize);
        // SAFETY: pointers and lengths come from live slices; libdeflate reads at most
        // `input.len()` bytes and writes at most `out.len()` bytes.
        let result = unsafe {
            libdeflate_gzip_decompress_ex(
                self.raw.as_ptr(),
                input.as_ptr().cast(),
                input.len(),
                out.as_mut_ptr().cast(),
                out.len(),
                &mut used,
                &mut written,
            )
        };
        match result {
            r if r == libdeflate_result_LIBDEFLATE_SUCCESS => Ok((used, written)),
            r if r == libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE => {
                Err(MemberError::OutputTooSmall)
            }
            _ => Err(MemberError::BadOrIncomplete),
        }
    }
}

impl Drop for GzipMemberDecoder {
    fn drop(&mut self) {
        // SAFETY: allocated by libdeflate_alloc_decompressor and freed once.
        unsafe { libdeflate_free_decompressor(self.raw.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn decodes_one_member_of_several() {
        let mut input = gzip(b"first\n");
        let first_len = input.len();
        input.extend(gzip(b"second\n"));
        let mut dec = GzipMemberDecoder::new().unwrap();
        let mut out = vec![0; 64];
        assert_eq!(dec.decode(&input, &mut out), Ok((first_len, 6)));
        assert_eq!(&out[..6], b"first\n");
        assert_eq!(
            dec.decode(&input[first_len..], &mut out),
            Ok((input.len() - first_len, 7))
        );
        assert_eq!(
            dec.decode(&input[..first_len - 3], &mut out),
            Err(MemberError::BadOrIncomplete)
        );
        assert_eq!(
            dec.decode(&input, &mut out[..2]),
            Err(MemberError::OutputTooSmall)
        );
    }
}
