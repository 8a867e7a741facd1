//! The README's library example is `examples/library.rs`, line for line.

#[test]
fn the_readme_shows_the_compiled_library_example() {
    let example = include_str!("../examples/library.rs");
    let readme = include_str!("../../../README.md");
    let body: Vec<&str> = example
        .lines()
        .skip_while(|l| !l.contains("README: begin"))
        .skip(1)
        .take_while(|l| !l.contains("README: end"))
        .map(str::trim)
        .collect();
    assert!(body.len() >= 3, "markers missing in examples/library.rs");
    let readme_lines: Vec<&str> = readme.lines().map(str::trim).collect();
    let found = readme_lines
        .windows(body.len())
        .any(|w| w == body.as_slice());
    assert!(
        found,
        "README.md's \"As a library\" block must contain these lines of examples/library.rs:\n{}",
        body.join("\n")
    );
}
