import CPNG

/// Writing 8-bit RGB and RGBA pictures as PNG through libpng's simplified API
/// (`png_image_write_to_memory`), published atomically with `AtomicFile` (hidden temporary in
/// the destination directory, fsync, rename): a reader sees either no file or the whole picture.
///
/// This is the only file that talks to libpng. Pixels are row-major, top row first, 8 bits per
/// channel, channels interleaved (R, G, B[, A]); no colour management, no gamma chunk beyond
/// libpng's sRGB default.
///
/// Failure modes: a pixel buffer whose size does not match `width × height × channels`, an
/// empty or absurdly large picture (more than `maximumSide` pixels on a side), a libpng failure
/// (its message is passed on), or a failed write (disk full, missing directory, no permission).
/// Every error is a `PNGError` naming the file.
public enum PNGWriter {
    /// The interleaved channel layouts this writer supports.
    public enum PixelLayout: Int, Sendable {
        case rgb = 3
        case rgba = 4

        /// Bytes per pixel.
        public var channels: Int { rawValue }

        /// libpng's PNG_FORMAT_RGB (colour flag 0x02) and PNG_FORMAT_RGBA (colour | alpha 0x01).
        var libpngFormat: UInt32 { self == .rgb ? 0x02 : 0x03 }
    }

    /// The largest width or height accepted (libpng itself allows up to 2³¹ − 1).
    public static let maximumSide = 65_536

    /// PNG bytes for the picture. `name` only labels errors (the file the bytes are meant for).
    public static func encode(pixels: [UInt8], width: Int, height: Int, layout: PixelLayout = .rgb,
                              name: String = "<memory>") throws -> [UInt8] {
        try validate(pixelCount: pixels.count, width: width, height: height, layout: layout, name: name)
        var image = makeImage(width: width, height: height, layout: layout)
        defer { png_image_free(&image) }
        let stride = Int32(width * layout.channels)
        var size: png_alloc_size_t = 0
        // First call sizes the output, the second fills it (libpng's documented two-step use).
        let sized = pixels.withUnsafeBytes { png_image_write_to_memory(&image, nil, &size, 0, $0.baseAddress, stride, nil) }
        guard sized != 0, size > 0 else { throw PNGError(path: name, "libpng could not encode the picture: \(message(of: image))") }
        var output = [UInt8](repeating: 0, count: Int(size))
        var written = size
        png_image_free(&image)  // libpng frees its state after a write; this is a no-op then
        image = makeImage(width: width, height: height, layout: layout)
        let filled = output.withUnsafeMutableBytes { target in
            pixels.withUnsafeBytes { png_image_write_to_memory(&image, target.baseAddress, &written, 0, $0.baseAddress, stride, nil) }
        }
        guard filled != 0, written <= size else { throw PNGError(path: name, "libpng could not encode the picture: \(message(of: image))") }
        output.removeLast(Int(size - written))
        return output
    }

    /// Encodes the picture and publishes it at `path` atomically (temporary name, fsync, rename).
    /// Any existing file at `path` is replaced only once the new one is complete.
    public static func write(pixels: [UInt8], width: Int, height: Int, layout: PixelLayout = .rgb, to path: String) throws {
        let bytes = try encode(pixels: pixels, width: width, height: height, layout: layout, name: path)
        do {
            try AtomicFile.write(bytes, to: path)
        } catch let error as NiftiError {
            throw PNGError(path: path, "cannot write the PNG: \(error.detail) (check that the directory exists, is writable and the disk is not full)")
        }
    }

    /// A decoded picture, for verification (tests, `inspect`-style tools).
    public struct DecodedPicture: Sendable, Equatable {
        public var width: Int
        public var height: Int
        public var layout: PixelLayout
        public var pixels: [UInt8]
    }

    /// Decodes PNG bytes into 8-bit interleaved pixels of `layout` (libpng converts other
    /// formats). Throws a `PNGError` naming `name` when the bytes are not a readable PNG.
    public static func decode(_ bytes: [UInt8], layout: PixelLayout = .rgb, name: String = "<memory>") throws -> DecodedPicture {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        let begun = bytes.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        guard begun != 0 else { throw PNGError(path: name, "not a readable PNG: \(message(of: image))") }
        let (width, height) = (Int(image.width), Int(image.height))
        guard width <= maximumSide, height <= maximumSide else {
            throw PNGError(path: name, "picture of \(width)×\(height) pixels exceeds the limit of \(maximumSide) per side")
        }
        image.format = layout.libpngFormat
        var pixels = [UInt8](repeating: 0, count: width * height * layout.channels)
        let finished = pixels.withUnsafeMutableBytes {
            png_image_finish_read(&image, nil, $0.baseAddress, Int32(width * layout.channels), nil)
        }
        guard finished != 0 else { throw PNGError(path: name, "cannot decode the PNG: \(message(of: image))") }
        return DecodedPicture(width: width, height: height, layout: layout, pixels: pixels)
    }

    // MARK: - Internals

    private static func validate(pixelCount: Int, width: Int, height: Int, layout: PixelLayout, name: String) throws {
        guard width > 0, height > 0, width <= maximumSide, height <= maximumSide else {
            throw PNGError(path: name, "cannot write a picture of \(width)×\(height) pixels (each side must be 1…\(maximumSide))")
        }
        guard pixelCount == width * height * layout.channels else {
            throw PNGError(path: name, "expected \(width)×\(height)×\(layout.channels) = \(width * height * layout.channels) bytes of pixels, got \(pixelCount)")
        }
    }

    private static func makeImage(width: Int, height: Int, layout: PixelLayout) -> png_image {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = layout.libpngFormat
        return image
    }

    /// libpng's message (a NUL-terminated char[64] inside the control structure).
    private static func message(of image: png_image) -> String {
        var copy = image.message
        let text = withUnsafeBytes(of: &copy) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return text.isEmpty ? "no detail from libpng" : text
    }
}

/// A PNG that could not be encoded, decoded or written. `path` is the file concerned (or
/// `<memory>`); `detail` says what was expected, what was found, or what the operator can do.
public struct PNGError: Error, Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let detail: String

    public init(path: String, _ detail: String) {
        self.path = path
        self.detail = detail
    }

    public var description: String { "\(path): \(detail)" }
}
