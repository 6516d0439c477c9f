// Applies the stored theme before the first paint, so there is no flash of the wrong theme.
try {
  var theme = localStorage.getItem('conclave.theme');
  if (theme === 'light' || theme === 'dark') document.documentElement.dataset.theme = theme;
} catch (e) {
  /* storage unavailable: follow the system setting */
}
