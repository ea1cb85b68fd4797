// bench_gdcm.cc - the DICOM decode benchmark's GDCM peer: gdcm::ImageReader
// and Image::GetBuffer (GDCM's RLE, IJG-based JPEG, CharLS JPEG-LS and
// OpenJPEG JPEG 2000 decoders) per file, files split between THREADS
// std::threads, RUNS times; prints the median wall time, CPU time per run and a checksum.
// Usage: bench_gdcm FOLDER THREADS RUNS
#include <gdcmImage.h>
#include <gdcmImageReader.h>

#include "peer_harness.hh"

static uint64_t decode_one(const std::string &path, std::atomic<int> &fails)
{
    gdcm::ImageReader r;
    r.SetFileName(path.c_str());
    if (!r.Read()) {
        fails++;
        return 0;
    }
    const gdcm::Image &img = r.GetImage();
    std::vector<char> buf(img.GetBufferLength());
    if (!img.GetBuffer(buf.data())) {
        fails++;
        return 0;
    }
    uint64_t sum = 0;
    const uint16_t *p = reinterpret_cast<const uint16_t *>(buf.data());
    for (size_t i = 0; i < buf.size() / 2; i++)
        sum += p[i];
    return sum;
}

int main(int argc, char **argv)
{
    return run_peer("gdcm", argc, argv, decode_one);
}
