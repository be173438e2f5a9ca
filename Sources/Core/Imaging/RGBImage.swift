/// An 8-bit RGB picture in memory: `pixels` holds R, G, B per pixel, row-major, top row first
/// (the layout PNG stores). Drawing helpers clip silently at the borders.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// `width × height × 3` bytes.
    public var pixels: [UInt8]

    /// A picture of one colour.
    public init(width: Int, height: Int, fill: RGBColour = .black) {
        precondition(width > 0 && height > 0, "a picture needs at least one pixel")
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        if fill != .black { fillRectangle(x: 0, y: 0, width: width, height: height, colour: fill) }
    }

    /// The colour at column `x`, row `y` (row 0 is the top).
    public subscript(x: Int, y: Int) -> RGBColour {
        get {
            let offset = 3 * (x + width * y)
            return RGBColour(pixels[offset], pixels[offset + 1], pixels[offset + 2])
        }
        set {
            let offset = 3 * (x + width * y)
            pixels[offset] = newValue.red
            pixels[offset + 1] = newValue.green
            pixels[offset + 2] = newValue.blue
        }
    }

    /// Mixes `colour` over the pixel with `opacity` in 0…1 (0 keeps the pixel, 1 replaces it).
    public mutating func blend(x: Int, y: Int, colour: RGBColour, opacity: Double) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let offset = 3 * (x + width * y)
        let keep = 1 - opacity
        pixels[offset] = UInt8((Double(pixels[offset]) * keep + Double(colour.red) * opacity).rounded())
        pixels[offset + 1] = UInt8((Double(pixels[offset + 1]) * keep + Double(colour.green) * opacity).rounded())
        pixels[offset + 2] = UInt8((Double(pixels[offset + 2]) * keep + Double(colour.blue) * opacity).rounded())
    }

    /// Paints a rectangle (clipped to the picture).
    public mutating func fillRectangle(x: Int, y: Int, width rectangleWidth: Int, height rectangleHeight: Int, colour: RGBColour) {
        for row in max(0, y)..<max(max(0, y), min(height, y + rectangleHeight)) {
            for column in max(0, x)..<max(max(0, x), min(width, x + rectangleWidth)) {
                self[column, row] = colour
            }
        }
    }

    /// Number of pixels whose colour satisfies `predicate` (for tests and checks).
    public func count(where predicate: (RGBColour) -> Bool) -> Int {
        var total = 0
        for y in 0..<height { for x in 0..<width where predicate(self[x, y]) { total += 1 } }
        return total
    }

    /// The picture as PNG bytes.
    public func pngData() throws -> [UInt8] {
        try PNGWriter.encode(pixels: pixels, width: width, height: height, layout: .rgb)
    }

    /// Writes the picture as a PNG at `path`, atomically (see `PNGWriter.write`).
    public func write(to path: String) throws {
        try PNGWriter.write(pixels: pixels, width: width, height: height, layout: .rgb, to: path)
    }
}

/// An 8-bit sRGB colour.
public struct RGBColour: Sendable, Equatable, Hashable {
    public var red: UInt8
    public var green: UInt8
    public var blue: UInt8

    public init(_ red: UInt8, _ green: UInt8, _ blue: UInt8) {
        self.red = red
        self.green = green
        self.blue = blue
    }

    public static let black = RGBColour(0, 0, 0)
    public static let white = RGBColour(255, 255, 255)
    public static let red = RGBColour(255, 0, 0)
    public static let green = RGBColour(0, 255, 0)
    public static let yellow = RGBColour(255, 255, 0)
    public static let magenta = RGBColour(255, 0, 255)
    public static let grey = RGBColour(128, 128, 128)

    /// Whether the colour is a shade of grey (R = G = B).
    public var isGrey: Bool { red == green && green == blue }
}
