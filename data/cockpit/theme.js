/* Follows the shell's light or dark choice, as Cockpit's own pages do: the
 * shell keeps it in localStorage ("shell:style": light, dark or auto, where
 * auto follows the system's colour scheme). The shell writing a new choice
 * reaches this frame as a storage event; the system's scheme changing, as a
 * media query change. Loaded in <head> so that the page never flashes light. */
"use strict";
(() => {
    const DARK = "pf-v6-theme-dark";
    const systemDark = window.matchMedia("(prefers-color-scheme: dark)");

    function apply() {
        let style = "auto";
        try {
            style = window.localStorage.getItem("shell:style") || "auto";
        } catch (e) {
            // storage refused (privacy settings): the system's scheme decides
        }
        const dark = style === "dark" || (style === "auto" && systemDark.matches);
        document.documentElement.classList.toggle(DARK, dark);
    }

    window.addEventListener("storage", event => {
        if (event.key === "shell:style" || event.key === null)
            apply();
    });
    systemDark.addEventListener("change", apply);
    apply();
})();
