/// A tiny built-in 5×7 block font for captions on QC pictures: upper-case letters, digits and
/// a few punctuation marks; anything else draws as a space (lower case is drawn upper case).
/// No font files or font libraries are involved, so a picture renders the same everywhere.
public enum BlockGlyphs {
    /// Glyph width and height in font pixels; glyphs advance by `width + 1`.
    public static let width = 5
    public static let height = 7

    /// Width in picture pixels of `text` drawn at `scale`.
    public static func textWidth(_ text: String, scale: Int = 1) -> Int {
        max(0, text.count * (width + 1) - 1) * scale
    }

    /// The 7 rows of 5 cells of `character` (`#` set, `.` clear), or nil when it has no glyph.
    static func rows(of character: Character) -> Substring? {
        guard let pattern = patterns[Character(character.uppercased())] else { return nil }
        return Substring(pattern)
    }

    private static let patterns: [Character: String] = [
        "A": ".###.#...##...#######...##...##...#", "B": "####.#...##...#####.#...##...#####.",
        "C": ".###.#...##....#....#....#...#.###.", "D": "####.#...##...##...##...##...#####.",
        "E": "######....#....####.#....#....#####", "F": "######....#....####.#....#....#....",
        "G": ".###.#...##....#.####...##...#.####", "H": "#...##...##...#######...##...##...#",
        "I": ".###...#....#....#....#....#...###.", "J": "..###...#....#....#....#.#..#..##..",
        "K": "#...##..#.#.#..##...#.#..#..#.#...#", "L": "#....#....#....#....#....#....#####",
        "M": "#...###.###.#.##.#.##...##...##...#", "N": "#...##...###..##.#.##..###...##...#",
        "O": ".###.#...##...##...##...##...#.###.", "P": "####.#...##...#####.#....#....#....",
        "Q": ".###.#...##...##...##.#.##..#..##.#", "R": "####.#...##...#####.#.#..#..#.#...#",
        "S": ".#####....#.....###.....#....#####.", "T": "#####..#....#....#....#....#....#..",
        "U": "#...##...##...##...##...##...#.###.", "V": "#...##...##...##...##...#.#.#...#..",
        "W": "#...##...##...##.#.##.#.##.#.#.#.#.", "X": "#...##...#.#.#...#...#.#.#...##...#",
        "Y": "#...##...#.#.#...#....#....#....#..", "Z": "#####....#...#...#...#...#....#####",
        "0": ".###.#...##..###.#.###..##...#.###.", "1": "..#...##....#....#....#....#...###.",
        "2": ".###.#...#....#...#...#...#...#####", "3": "####.....#....#.###.....#....#####.",
        "4": "...#...##..#.#.#..#.#####...#....#.", "5": "######....####.....#....##...#.###.",
        "6": "..##..#...#....####.#...##...#.###.", "7": "#####....#...#...#...#....#....#...",
        "8": ".###.#...##...#.###.#...##...#.###.", "9": ".###.#...##...#.####....#...#..##..",
        "-": "...............#####...............", ".": ".........................##...##...",
        ":": "......##...##.........##...##......", "/": "....#....#...#...#...#...#....#....",
        "=": "..........#####.....#####..........", "(": "...#...#...#....#....#.....#.....#.",
        ")": ".#.....#.....#....#....#...#...#...", ",": "....................##....#...#....",
        "%": "##...##..#...#...#...#...#..##...##", "+": ".......#....#..#####..#....#.......",
    ]
}

extension RGBImage {
    /// Draws `text` with its top-left corner at (`x`, `y`), each font pixel a `scale`×`scale`
    /// block of `colour`; when `shadow` is set, a block one font pixel down-right is drawn
    /// first in that colour so that text stays legible over an image. Clipped at the borders.
    public mutating func drawText(_ text: String, x: Int, y: Int, scale: Int = 1, colour: RGBColour = .white, shadow: RGBColour? = nil) {
        if let shadow { drawText(text, x: x + scale, y: y + scale, scale: scale, colour: shadow) }
        var left = x
        for character in text {
            if let rows = BlockGlyphs.rows(of: character) {
                for (cell, mark) in rows.enumerated() where mark == "#" {
                    let column = cell % BlockGlyphs.width, row = cell / BlockGlyphs.width
                    fillRectangle(x: left + column * scale, y: y + row * scale, width: scale, height: scale, colour: colour)
                }
            }
            left += (BlockGlyphs.width + 1) * scale
        }
    }
}
