// Debian's chromium, headless, as the player tests launch it: playwright-core's `chromium` and
// the browser's path, with autoplay allowed and sound off.
export function launchChromium(chromium, executablePath, timeout) {
  return chromium.launch({
    executablePath,
    args: [
      '--no-sandbox',
      '--headless=new',
      '--autoplay-policy=no-user-gesture-required',
      '--disable-dev-shm-usage',
      '--disable-gpu',
      '--mute-audio',
      '--no-first-run',
      '--no-default-browser-check',
    ],
    timeout,
  });
}
