// The button look for Radix parts that render their own <button> (dialog actions).
const base =
  "inline-flex h-9 items-center justify-center rounded-md px-4 text-sm font-medium focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring disabled:opacity-40";
const variants = {
  outline: "border border-input hover:bg-accent",
  destructive: "bg-destructive text-destructive-foreground hover:bg-destructive/90",
  default: "bg-primary text-primary-foreground hover:bg-primary/90",
};

export function buttonClass(variant: keyof typeof variants): string {
  return `${base} ${variants[variant]}`;
}
