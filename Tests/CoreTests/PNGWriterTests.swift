import Core
import Foundation
import TestSupport
import Testing

/// The fields of a PNG's IHDR chunk, parsed by hand (independently of libpng).
private struct PNGHeader: Equatable {
    var width: Int
    var height: Int
    var bitDepth: Int
    var colourType: Int
}

extension PNGHeader {
    /// Parses the signature and the first chunk, which the PNG standard requires to be IHDR.
    init?(_ bytes: [UInt8]) {
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        guard bytes.count >= 33, Array(bytes[0..<8]) == signature else { return nil }
        func bigEndian(_ offset: Int) -> Int { bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) } }
        guard bigEndian(8) == 13, String(decoding: bytes[12..<16], as: UTF8.self) == "IHDR" else { return nil }
        width = bigEndian(16)
        height = bigEndian(20)
        bitDepth = Int(bytes[24])
        colourType = Int(bytes[25])
    }
}

@Suite("PNG writer")
struct PNGWriterTests {
    /// A 7×5 picture whose every pixel differs (catches row-stride and channel-order mistakes).
    static func pattern(width: Int = 7, height: Int = 5, channels: Int = 3) -> [UInt8] {
        (0..<(width * height * channels)).map { UInt8(truncatingIfNeeded: $0 * 37 + 11) }
    }

    @Test func rgbRoundTripThroughAFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("picture.png")
        let pixels = Self.pattern()
        try PNGWriter.write(pixels: pixels, width: 7, height: 5, layout: .rgb, to: path)
        let bytes = try #require(FileManager.default.contents(atPath: path)).map { $0 }
        #expect(PNGHeader(bytes) == PNGHeader(width: 7, height: 5, bitDepth: 8, colourType: 2))
        let decoded = try PNGWriter.decode(bytes, layout: .rgb)
        #expect(decoded.width == 7 && decoded.height == 5)
        #expect(decoded.pixels == pixels)
        #expect(directory.contents() == ["picture.png"], "no temporary file is left behind")
    }

    @Test func rgbaRoundTripInMemory() throws {
        let pixels = Self.pattern(width: 3, height: 4, channels: 4)
        let bytes = try PNGWriter.encode(pixels: pixels, width: 3, height: 4, layout: .rgba)
        #expect(PNGHeader(bytes) == PNGHeader(width: 3, height: 4, bitDepth: 8, colourType: 6))
        #expect(try PNGWriter.decode(bytes, layout: .rgba).pixels == pixels)
    }

    @Test func imageWritesItselfAsPNG() throws {
        var image = RGBImage(width: 4, height: 2)
        image[3, 1] = .yellow
        let decoded = try PNGWriter.decode(try image.pngData())
        #expect(decoded.pixels == image.pixels)
        #expect(Array(decoded.pixels.suffix(3)) == [255, 255, 0], "the last pixel is the bottom-right one")
    }

    @Test func replacingAFileIsAtomic() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("qc.png")
        try Data("old content".utf8).write(to: URL(fileURLWithPath: path))
        try PNGWriter.write(pixels: [1, 2, 3], width: 1, height: 1, to: path)
        let bytes = try #require(FileManager.default.contents(atPath: path)).map { $0 }
        #expect(PNGHeader(bytes)?.width == 1)
        #expect(directory.contents() == ["qc.png"])
        // A failed encode leaves the old file untouched.
        #expect(throws: PNGError.self) { try PNGWriter.write(pixels: [1, 2], width: 1, height: 1, to: path) }
        #expect(FileManager.default.contents(atPath: path).map { Array($0) } == bytes)
        #expect(directory.contents() == ["qc.png"])
    }

    @Test func errorsNameTheFile() throws {
        let directory = try TemporaryDirectory()
        let missing = directory.file("no/such/dir/qc.png")
        let error = try #require(throws: PNGError.self) { try PNGWriter.write(pixels: [0, 0, 0], width: 1, height: 1, to: missing) }
        #expect(error.path == missing)
        #expect(error.description.contains("qc.png"))
        let sizeError = try #require(throws: PNGError.self) {
            try PNGWriter.encode(pixels: [0, 0, 0], width: 2, height: 1, name: "x.png")
        }
        #expect(sizeError.description.contains("x.png") && sizeError.detail.contains("6"))
        #expect(throws: PNGError.self) { try PNGWriter.encode(pixels: [], width: 0, height: 0) }
        #expect(throws: PNGError.self) { try PNGWriter.decode(Array("not a png at all".utf8), name: "bad.png") }
    }
}
